"""The versioned schema of the ledger database: ledger, review queue, audit trail, decision
records, the policy store and the online intake state (shared by every host on PostgreSQL).

Each migration is a version number, a name and its statements per dialect. Migrations only ever
add; a released migration is never edited (add a new one instead).
"""

from __future__ import annotations

from dataclasses import dataclass

from guardrails.ledger.schema_books import (
    OLD_SIGNATURE,
    RESERVE_FUNCTION_V2,
    controls_postgresql,
    controls_sqlite,
)

GENESIS = "0" * 64  # chain hash before the first audit record


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sqlite: tuple[str, ...]
    postgresql: tuple[str, ...]

    def statements(self, dialect: str) -> tuple[str, ...]:
        return self.sqlite if dialect == "sqlite" else self.postgresql


def _ledger(real: str, text_key: str, row_opts: str, seq: str) -> tuple[str, ...]:
    return (
        f"""CREATE TABLE reservations (
            id TEXT PRIMARY KEY,
            idempotency_key TEXT NOT NULL UNIQUE,
            decision_id TEXT NOT NULL,
            payload_digest TEXT NOT NULL,
            status TEXT NOT NULL,
            created_at {real} NOT NULL,
            expires_at {real} NOT NULL,
            updated_at {real} NOT NULL,
            rejected_scope TEXT,
            reason TEXT){row_opts}""",
        "CREATE INDEX reservations_held ON reservations (expires_at) WHERE status = 'held'",
        "CREATE INDEX reservations_decision ON reservations (decision_id)",
        f"""CREATE TABLE reservation_lines (
            reservation_id {text_key} NOT NULL REFERENCES reservations (id),
            scope TEXT NOT NULL,
            amount BIGINT NOT NULL,
            limit_amount BIGINT,
            PRIMARY KEY (reservation_id, scope)){row_opts}""",
        f"""CREATE TABLE scope_balances (
            scope TEXT PRIMARY KEY,
            kind TEXT NOT NULL,
            period TEXT,
            limit_amount BIGINT,
            reserved BIGINT NOT NULL DEFAULT 0,
            committed BIGINT NOT NULL DEFAULT 0){row_opts}""",
        f"""CREATE TABLE ledger_entries (
            seq {seq},
            reservation_id TEXT NOT NULL,
            scope TEXT NOT NULL,
            operation TEXT NOT NULL,
            reserved_delta BIGINT NOT NULL,
            committed_delta BIGINT NOT NULL,
            at {real} NOT NULL,
            reason TEXT)""",
    )


_RESERVE_FUNCTION = """
CREATE OR REPLACE FUNCTION ledger_reserve(
    p_id text, p_key text, p_decision text, p_digest text,
    p_now double precision, p_expires double precision,
    p_scopes text[], p_kinds text[], p_periods text[], p_amounts bigint[], p_limits bigint[])
RETURNS TABLE (r_id text, r_status text, r_digest text, r_rejected text, r_replayed boolean)
LANGUAGE plpgsql SET plan_cache_mode = force_generic_plan AS $fn$
DECLARE
    v_rejected text;
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
    SELECT min(up.scope) INTO v_rejected FROM up WHERE up.lim IS NOT NULL AND up.used > up.lim;
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


def _reviews(real: str) -> tuple[str, ...]:
    return (
        f"""CREATE TABLE reviews (
            id TEXT PRIMARY KEY,
            decision_id TEXT NOT NULL UNIQUE,
            reservation_id TEXT,
            status TEXT NOT NULL,
            reason TEXT NOT NULL,
            summary TEXT NOT NULL,
            created_at {real} NOT NULL,
            expires_at {real} NOT NULL,
            resolved_at {real},
            resolved_by TEXT,
            note TEXT)""",
        "CREATE INDEX reviews_pending ON reviews (expires_at) WHERE status = 'pending'",
    )


_AUDIT = (
    """CREATE TABLE audit_records (
        seq BIGINT PRIMARY KEY,
        record_id TEXT NOT NULL UNIQUE,
        decision_id TEXT NOT NULL,
        event TEXT NOT NULL,
        at TEXT NOT NULL,
        body TEXT NOT NULL,
        chain_hash TEXT NOT NULL)""",
    "CREATE INDEX audit_records_decision ON audit_records (decision_id)",
    """CREATE TABLE audit_head (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        seq BIGINT NOT NULL,
        chain_hash TEXT NOT NULL)""",
    f"INSERT INTO audit_head (id, seq, chain_hash) VALUES (1, 0, '{GENESIS}')",
)


def _decisions(real: str) -> tuple[str, ...]:
    # One row per decision: a second request with the same idempotency key (another worker,
    # racing) finds the key taken and answers with the first one's recorded decision.
    return (
        f"""CREATE TABLE decisions (
            decision_id TEXT PRIMARY KEY,
            idempotency_key TEXT NOT NULL UNIQUE,
            input_digest TEXT NOT NULL,
            created_at {real} NOT NULL)""",
    )


def _policy_tables(id_column: str) -> tuple[str, ...]:
    return (
        """CREATE TABLE policy_versions (
            version TEXT PRIMARY KEY,
            contract_id TEXT NOT NULL,
            seq BIGINT NOT NULL,
            document TEXT NOT NULL,
            source_text TEXT NOT NULL,
            source_name TEXT NOT NULL,
            stored_at TEXT NOT NULL,
            UNIQUE (contract_id, seq))""",
        f"""CREATE TABLE policy_activations (
            id {id_column},
            contract_id TEXT NOT NULL,
            version TEXT NOT NULL REFERENCES policy_versions (version),
            previous TEXT,
            action TEXT NOT NULL,
            at TEXT NOT NULL)""",
        "CREATE INDEX policy_activations_contract ON policy_activations (contract_id, id)",
    )


_IMMUTABLE = "policy versions are immutable"
_APPEND_ONLY = "the activation history is append-only"
_GUARDED = (("policy_versions", _IMMUTABLE), ("policy_activations", _APPEND_ONLY))


def _policies_sqlite() -> tuple[str, ...]:
    # Versions are immutable and activations append-only: the history of what was active when
    # stays auditable, and a rollback is a new activation of an older version.
    triggers = tuple(
        f"""CREATE TRIGGER {table}_no_{op.lower()} BEFORE {op} ON {table}
            BEGIN SELECT RAISE(ABORT, '{message}'); END"""
        for table, message in _GUARDED
        for op in ("UPDATE", "DELETE")
    )
    return (*_policy_tables("INTEGER PRIMARY KEY AUTOINCREMENT"), *triggers)


def _policies_postgresql() -> tuple[str, ...]:
    # The same guarantee as SQLite's triggers, TRUNCATE included; SQLSTATE 23000 so drivers
    # report an integrity error on both backends.
    function = """CREATE OR REPLACE FUNCTION policy_refuse_change() RETURNS trigger
        LANGUAGE plpgsql AS $fn$
        BEGIN
            RAISE EXCEPTION USING MESSAGE = TG_ARGV[0], ERRCODE = '23000';
        END
        $fn$"""
    triggers = tuple(
        f"""CREATE TRIGGER {table}_{name} BEFORE {ops} ON {table} FOR EACH {each}
            EXECUTE FUNCTION policy_refuse_change('{message}')"""
        for table, message in _GUARDED
        for name, ops, each in (("no_change", "UPDATE OR DELETE", "ROW"),
                                ("no_truncate", "TRUNCATE", "STATEMENT"))
    )  # fmt: skip
    return (*_policy_tables("BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY"), function, *triggers)


def _intake(real: str) -> tuple[str, ...]:
    # Events that must take effect before the next decision (consent, sends, declines,
    # redemptions), idempotent by event id; a decision reads one customer's rows by the index.
    return (
        f"""CREATE TABLE intake_events (
            event_id TEXT PRIMARY KEY,
            event_type TEXT NOT NULL,
            at {real} NOT NULL,
            received {real} NOT NULL,
            customer_id TEXT NOT NULL,
            partner_id TEXT,
            contract_id TEXT,
            offer_id TEXT,
            channel TEXT,
            points BIGINT,
            consent_scope TEXT,
            consent_granted INTEGER)""",
        "CREATE INDEX intake_events_customer ON intake_events (customer_id, at)",
    )


# who made a policy version active (the configured operator identity); NULL for activations
# recorded before it was kept
_ACTIVATED_BY = "ALTER TABLE policy_activations ADD COLUMN activated_by TEXT"

MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "budget ledger",
        _ledger("REAL", "TEXT", " WITHOUT ROWID", "INTEGER PRIMARY KEY"),
        (
            *_ledger("DOUBLE PRECISION", "TEXT", "", "BIGINT GENERATED ALWAYS AS IDENTITY"),
            _RESERVE_FUNCTION,
        ),
    ),
    Migration(2, "review queue", _reviews("REAL"), _reviews("DOUBLE PRECISION")),
    Migration(3, "audit trail", _AUDIT, _AUDIT),
    Migration(4, "decision records", _decisions("REAL"), _decisions("DOUBLE PRECISION")),
    Migration(5, "policy store", _policies_sqlite(), _policies_postgresql()),
    Migration(6, "online intake state", _intake("REAL"), _intake("DOUBLE PRECISION")),
    Migration(
        7,
        "the books of a contract period",
        ("ALTER TABLE intake_events ADD COLUMN decision_id TEXT", *controls_sqlite()),
        (
            f"DROP FUNCTION IF EXISTS {OLD_SIGNATURE}",
            RESERVE_FUNCTION_V2,
            "ALTER TABLE intake_events ADD COLUMN decision_id TEXT",
            *controls_postgresql(),
        ),
    ),
    Migration(8, "accountable actions", (_ACTIVATED_BY,), (_ACTIVATED_BY,)),
)
