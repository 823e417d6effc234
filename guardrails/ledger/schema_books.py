"""Migration 7, the books of a contract period: PostgreSQL's one-round-trip reservation, version
2, with count windows checked in the same call, and the contract controls (pause and resume).

A line's window (earlier days of a rolling contact window) counts toward its limit. The window
is read in its own statement after the upsert has locked every line's row, the customer's
lifetime row among them: in READ COMMITTED each statement of a function takes a new snapshot,
so it sees every grant committed by a concurrent reservation of the same customer.
"""

from __future__ import annotations

OLD_SIGNATURE = (
    "ledger_reserve(text, text, text, text, double precision, double precision, "
    "text[], text[], text[], bigint[], bigint[])"
)

RESERVE_FUNCTION_V2 = """
CREATE OR REPLACE FUNCTION ledger_reserve(
    p_id text, p_key text, p_decision text, p_digest text,
    p_now double precision, p_expires double precision,
    p_scopes text[], p_kinds text[], p_periods text[], p_amounts bigint[], p_limits bigint[],
    p_window_lines text[], p_window_scopes text[])
RETURNS TABLE (r_id text, r_status text, r_digest text, r_rejected text, r_replayed boolean)
LANGUAGE plpgsql SET plan_cache_mode = force_generic_plan AS $fn$
DECLARE
    v_rejected text;
    v_scopes text[];
    v_used bigint[];
    v_lims bigint[];
BEGIN
    -- The key's row comes first: a concurrent retry of the same key waits here, then replays.
    WITH r AS (
        INSERT INTO reservations (id, idempotency_key, decision_id, payload_digest, status,
                                  created_at, expires_at, updated_at)
        VALUES (p_id, p_key, p_decision, p_digest, 'held', p_now, p_expires, p_now)
        ON CONFLICT (idempotency_key) DO NOTHING
        RETURNING id)
    INSERT INTO reservation_lines (reservation_id, scope, amount, limit_amount)
    SELECT r.id, u.s, u.a, u.l FROM r, unnest(p_scopes, p_amounts, p_limits) AS u(s, a, l);
    IF NOT FOUND THEN
        RETURN QUERY SELECT r.id, r.status, r.payload_digest, r.rejected_scope, true
            FROM reservations r WHERE r.idempotency_key = p_key;
        RETURN;
    END IF;
    -- Take every scope in one upsert, rows locked in scope-id order (no deadlocks); the
    -- returned totals are the latest committed values plus this reservation.
    WITH up AS (
        INSERT INTO scope_balances AS b (scope, kind, period, limit_amount, reserved)
        SELECT u.s, u.k, u.p, u.l, u.a
        FROM unnest(p_scopes, p_kinds, p_periods, p_limits, p_amounts) AS u(s, k, p, l, a)
        ORDER BY u.s
        ON CONFLICT (scope) DO UPDATE
            SET reserved = b.reserved + EXCLUDED.reserved, limit_amount = EXCLUDED.limit_amount
        RETURNING b.scope, b.reserved + b.committed AS used, b.limit_amount AS lim)
    SELECT array_agg(up.scope), array_agg(up.used), array_agg(up.lim)
        INTO v_scopes, v_used, v_lims FROM up;
    SELECT min(t.s) INTO v_rejected
    FROM unnest(v_scopes, v_used, v_lims) AS t(s, used, lim)
    LEFT JOIN (
        SELECT w.l, sum(b.reserved + b.committed) AS extra
        FROM unnest(p_window_lines, p_window_scopes) AS w(l, s)
        JOIN scope_balances b ON b.scope = w.s
        GROUP BY w.l) x ON x.l = t.s
    WHERE t.lim IS NOT NULL AND t.used + coalesce(x.extra, 0) > t.lim;
    IF v_rejected IS NOT NULL THEN
        -- Over a limit: give the amounts back (same transaction, rows still locked).
        UPDATE scope_balances b SET reserved = b.reserved - u.a
        FROM unnest(p_scopes, p_amounts) AS u(s, a) WHERE b.scope = u.s;
        UPDATE reservations SET status = 'rejected', rejected_scope = v_rejected
        WHERE id = p_id;
        RETURN QUERY SELECT p_id, 'rejected'::text, p_digest, v_rejected, false;
        RETURN;
    END IF;
    INSERT INTO ledger_entries (reservation_id, scope, operation, reserved_delta,
                                committed_delta, at)
    SELECT p_id, u.s, 'reserve', u.a, 0, p_now FROM unnest(p_scopes, p_amounts) AS u(s, a);
    RETURN QUERY SELECT p_id, 'held'::text, p_digest, NULL::text, false;
END
$fn$
"""


CONTROLS_ONLY = "the contract controls history is append-only"


def controls_tables(id_column: str, real: str) -> tuple[str, ...]:
    # Pauses and resumes of a contract's spending, in order: the latest row per contract rules.
    return (
        f"""CREATE TABLE contract_controls (
            id {id_column},
            contract_id TEXT NOT NULL,
            action TEXT NOT NULL CHECK (action IN ('pause', 'resume')),
            at {real} NOT NULL,
            by_whom TEXT NOT NULL,
            reason TEXT)""",
        "CREATE INDEX contract_controls_contract ON contract_controls (contract_id, id)",
    )


def controls_sqlite() -> tuple[str, ...]:
    triggers = tuple(
        f"""CREATE TRIGGER contract_controls_no_{op.lower()} BEFORE {op} ON contract_controls
            BEGIN SELECT RAISE(ABORT, '{CONTROLS_ONLY}'); END"""
        for op in ("UPDATE", "DELETE")
    )
    return (*controls_tables("INTEGER PRIMARY KEY AUTOINCREMENT", "REAL"), *triggers)


def controls_postgresql() -> tuple[str, ...]:
    # policy_refuse_change() comes with the policy store (migration 5)
    triggers = tuple(
        f"""CREATE TRIGGER contract_controls_{name} BEFORE {ops} ON contract_controls
            FOR EACH {each} EXECUTE FUNCTION policy_refuse_change('{CONTROLS_ONLY}')"""
        for name, ops, each in (("no_change", "UPDATE OR DELETE", "ROW"),
                                ("no_truncate", "TRUNCATE", "STATEMENT"))
    )  # fmt: skip
    tables = controls_tables("BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY", "DOUBLE PRECISION")
    return (*tables, *triggers)
