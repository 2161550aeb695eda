-- Midori store, first schema. Applied once by StoreMigrator inside one transaction; never edit after release
-- (the checksum in schema_migrations would no longer match): add 0002_….sql instead.

-- Projects (seed 000 Project). A namespace is the tenant boundary, so project ids are unique per namespace.
CREATE TABLE projects (
    namespace          text        NOT NULL,
    project_id         text        NOT NULL,
    preview_enabled    boolean     NOT NULL DEFAULT true,
    preview_auto_build boolean     NOT NULL DEFAULT false,
    preview_settings   jsonb,
    created_at         timestamptz NOT NULL,
    updated_at         timestamptz NOT NULL,
    PRIMARY KEY (namespace, project_id),
    CHECK (length(project_id) BETWEEN 1 AND 253),
    CHECK (preview_settings IS NULL OR jsonb_typeof(preview_settings) = 'object')
);

-- Content-addressed file contents: the key is the content's hash, so identical content is stored once.
CREATE TABLE blobs (
    hash       text        PRIMARY KEY,
    size       bigint      NOT NULL,
    content    bytea       NOT NULL,
    created_at timestamptz NOT NULL,
    CHECK (hash ~ '^sha256:[0-9a-f]{64}$'),
    CHECK (size = octet_length(content))
);

-- Frozen file sets (seed 000 Snapshot). The manifest is snapshot_files; contents are blobs.
CREATE TABLE snapshots (
    namespace          text        NOT NULL,
    snapshot_id        text        NOT NULL,
    project_id         text        NOT NULL,
    from_generation_id text,
    files_hash         text        NOT NULL,
    file_count         integer     NOT NULL CHECK (file_count >= 0),
    total_bytes        bigint      NOT NULL CHECK (total_bytes >= 0),
    created_at         timestamptz NOT NULL,
    PRIMARY KEY (namespace, snapshot_id),
    FOREIGN KEY (namespace, project_id) REFERENCES projects (namespace, project_id) ON DELETE CASCADE
);
CREATE INDEX snapshots_by_project ON snapshots (namespace, project_id, created_at DESC);

CREATE TABLE snapshot_files (
    namespace   text   NOT NULL,
    snapshot_id text   NOT NULL,
    path        text   NOT NULL,
    blob_hash   text   NOT NULL REFERENCES blobs (hash),
    size        bigint NOT NULL CHECK (size >= 0),
    PRIMARY KEY (namespace, snapshot_id, path),
    FOREIGN KEY (namespace, snapshot_id) REFERENCES snapshots (namespace, snapshot_id) ON DELETE CASCADE
);

-- The live working copy of one preview (keyed like its PreviewSandbox). revision grows by one per commit that
-- changed something; pushed_* say which revision which sandbox is known to hold.
CREATE TABLE working_copies (
    namespace         text        NOT NULL,
    name              text        NOT NULL,
    project_id        text        NOT NULL,
    snapshot_id       text        NOT NULL,
    revision          bigint      NOT NULL CHECK (revision >= 1),
    files_hash        text        NOT NULL,
    file_count        integer     NOT NULL CHECK (file_count >= 0),
    total_bytes       bigint      NOT NULL CHECK (total_bytes >= 0),
    pushed_revision   bigint      CHECK (pushed_revision >= 1),
    pushed_sandbox_id text,
    created_at        timestamptz NOT NULL,
    updated_at        timestamptz NOT NULL,
    PRIMARY KEY (namespace, name),
    CHECK ((pushed_revision IS NULL) = (pushed_sandbox_id IS NULL)),
    CHECK (pushed_revision IS NULL OR pushed_revision <= revision)
);

-- Current file → blob map of each working copy; revision = the revision that last wrote the file (drives deltas).
CREATE TABLE working_copy_files (
    namespace text   NOT NULL,
    name      text   NOT NULL,
    path      text   NOT NULL,
    blob_hash text   NOT NULL REFERENCES blobs (hash),
    size      bigint NOT NULL CHECK (size >= 0),
    revision  bigint NOT NULL CHECK (revision >= 1),
    PRIMARY KEY (namespace, name, path),
    FOREIGN KEY (namespace, name) REFERENCES working_copies (namespace, name) ON DELETE CASCADE
);
CREATE INDEX working_copy_files_by_revision ON working_copy_files (namespace, name, revision);

-- Revision history: every file a revision wrote (blob_hash) or deleted (NULL).
CREATE TABLE working_copy_changes (
    namespace text   NOT NULL,
    name      text   NOT NULL,
    revision  bigint NOT NULL CHECK (revision >= 1),
    path      text   NOT NULL,
    blob_hash text   REFERENCES blobs (hash),
    PRIMARY KEY (namespace, name, revision, path),
    FOREIGN KEY (namespace, name) REFERENCES working_copies (namespace, name) ON DELETE CASCADE
);

-- Every accepted change set (seed 000 PatchSet): what was asked (kind + payload) and which revision it made.
-- Kept when the working copy is dropped, like the other history tables.
CREATE TABLE patch_sets (
    id          bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    namespace   text        NOT NULL,
    name        text        NOT NULL,
    project_id  text        NOT NULL,
    revision    bigint      NOT NULL CHECK (revision >= 1),
    kind        text        NOT NULL CHECK (kind ~ '^[a-z][a-z0-9_-]{0,31}$'),
    payload     jsonb,
    actor       text,
    added       integer     NOT NULL CHECK (added >= 0),
    modified    integer     NOT NULL CHECK (modified >= 0),
    deleted     integer     NOT NULL CHECK (deleted >= 0),
    files_hash  text        NOT NULL,
    created_at  timestamptz NOT NULL
);
CREATE INDEX patch_sets_by_preview ON patch_sets (namespace, name, revision DESC);

-- Latest activity (heartbeat) per preview; written in batches, only ever moves forward.
CREATE TABLE activity (
    namespace        text        NOT NULL,
    name             text        NOT NULL,
    last_activity_at timestamptz NOT NULL,
    PRIMARY KEY (namespace, name)
);

-- Preview sessions (seed 000 PreviewSession, seed 002 sandbox_info): one per sandbox lifetime of a preview.
CREATE TABLE preview_sessions (
    id            uuid        PRIMARY KEY,
    seq           bigint      GENERATED ALWAYS AS IDENTITY UNIQUE,
    namespace     text        NOT NULL,
    name          text        NOT NULL,
    resource_uid  text        NOT NULL,
    project_id    text        NOT NULL,
    snapshot_id   text,
    state         text        NOT NULL CHECK (state IN ('queued', 'building', 'ready', 'failed', 'expired', 'cancelled')),
    url           text,
    sandbox_info  jsonb       CHECK (sandbox_info IS NULL OR jsonb_typeof(sandbox_info) = 'object'),
    accessed_at   timestamptz,
    build_time_ms bigint      CHECK (build_time_ms >= 0),
    error_message text,
    meta          jsonb       CHECK (meta IS NULL OR jsonb_typeof(meta) = 'object'),
    created_at    timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL,
    ended_at      timestamptz,
    CHECK ((ended_at IS NULL) = (state IN ('queued', 'building', 'ready')))
);
-- At most one open session per preview; also the index the heartbeat path uses to touch accessed_at.
CREATE UNIQUE INDEX preview_sessions_one_open ON preview_sessions (namespace, name) WHERE state IN ('queued', 'building', 'ready');
CREATE INDEX preview_sessions_by_preview ON preview_sessions (namespace, name, seq DESC);
CREATE INDEX preview_sessions_by_project ON preview_sessions (namespace, project_id, created_at DESC);

-- Recreation history (seed 001 SandboxRecreation).
CREATE TABLE sandbox_recreations (
    id             bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    namespace      text        NOT NULL,
    name           text        NOT NULL,
    resource_uid   text        NOT NULL,
    reason         text        NOT NULL CHECK (reason IN ('expired', 'idle_wake', 'error', 'manual')),
    old_sandbox_id text,
    new_sandbox_id text,
    old_url        text,
    new_url        text,
    success        boolean     NOT NULL,
    error          text,
    duration_ms    bigint      NOT NULL CHECK (duration_ms >= 0),
    created_at     timestamptz NOT NULL
);
CREATE INDEX sandbox_recreations_by_preview ON sandbox_recreations (namespace, name, id DESC);
