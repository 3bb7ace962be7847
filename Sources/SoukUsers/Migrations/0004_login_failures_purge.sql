-- Throttle rows are purged once their window is over and no lock holds
-- (UserRepository.purgeExpiredSignInAttempts): an index to find them.
CREATE INDEX login_failures_window_started_at ON login_failures (window_started_at);
