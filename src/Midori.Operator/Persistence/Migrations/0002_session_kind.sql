-- How the sandbox of a session came to run: a cold create, a warm-pool claim, a resume of a paused sandbox, or a
-- recreation with every file. NULL until the session was Ready (and for sessions recorded before this column).
ALTER TABLE preview_sessions
    ADD COLUMN kind text CHECK (kind IS NULL OR kind IN ('create', 'claim', 'resume', 'recreate'));
