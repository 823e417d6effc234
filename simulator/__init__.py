"""The synthetic OEM loyalty ecosystem and its parametric ground truth."""
