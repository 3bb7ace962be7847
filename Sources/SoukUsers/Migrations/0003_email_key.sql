-- One key per email, computed by the service (UserRules.emailKey: ASCII letters
-- lower-cased, nothing else touched) and stored, so that uniqueness, lookups and
-- sign-in throttling agree and the database's locale plays no part: lower()
-- under a locale maps U+0130 to 'i', and 'I' to dotless 'ı' under tr_TR.
ALTER TABLE users ADD COLUMN email_key text;
UPDATE users SET email_key = translate(email, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz');
ALTER TABLE users ALTER COLUMN email_key SET NOT NULL;
ALTER TABLE users ADD CONSTRAINT users_email_key_matches_email
    CHECK (email_key = translate(email, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz'));
DROP INDEX users_email_key;
CREATE UNIQUE INDEX users_email_key_unique ON users (email_key);

-- Throttle rows were keyed by Swift's lower-casing; they are short-lived, so
-- start afresh under the one key. `failures` now counts attempts reserved
-- before the password is checked (see UserRepository.reserveSignInAttempt).
DELETE FROM login_failures;
