-- The lock-out's counter: sign-in attempts per login and client address. `login_hash` is SHA-256
-- of the login as typed (trimmed, lower-cased), whether an account has it or not: an unknown
-- login is locked like a real one, so a lock tells nothing, and nothing typed is kept. An attempt
-- is counted before its password is checked, in one statement, so parallel guesses cannot pass
-- the lock together. users.failed_logins and users.locked_until are no longer used.
CREATE TABLE sign_in_attempts (
    login_hash TEXT NOT NULL,
    source TEXT NOT NULL,
    -- attempts counted (being checked, or failed) since the last success, lock or quiet spell
    attempts BIGINT NOT NULL,
    -- set by the attempt that reaches the threshold; a success from this source ends it
    locked_until BIGINT,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (login_hash, source)
);
CREATE INDEX sign_in_attempts_updated ON sign_in_attempts (updated_at);
