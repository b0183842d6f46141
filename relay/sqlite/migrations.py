"""Schema migrations, numbered by the schema version each one produces.

Never edit a released migration; append a new one. ``PRAGMA user_version`` records the version.
"""

MIGRATIONS: dict[int, str] = {
    1: """
    CREATE TABLE users (
        username TEXT PRIMARY KEY,
        password_hash BLOB NOT NULL,
        sign_pk BLOB,
        box_pk BLOB,
        disabled INTEGER NOT NULL DEFAULT 0,
        quota INTEGER NOT NULL,
        used INTEGER NOT NULL DEFAULT 0,
        created_at REAL NOT NULL
    );
    CREATE TABLE devices (
        device_id TEXT PRIMARY KEY,
        username TEXT NOT NULL REFERENCES users(username),
        public_key BLOB NOT NULL UNIQUE,
        name TEXT NOT NULL,
        revoked INTEGER NOT NULL DEFAULT 0,
        created_at REAL NOT NULL
    );
    CREATE INDEX devices_by_user ON devices(username);
    CREATE TABLE challenges (
        nonce TEXT PRIMARY KEY,
        device_id TEXT NOT NULL,
        expires_at REAL NOT NULL
    );
    CREATE TABLE folders (
        folder_id TEXT PRIMARY KEY,
        created_by TEXT NOT NULL,
        created_at REAL NOT NULL,
        last_rseq INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE members (
        folder_id TEXT NOT NULL REFERENCES folders(folder_id),
        username TEXT NOT NULL,
        role TEXT NOT NULL,
        PRIMARY KEY (folder_id, username)
    ) WITHOUT ROWID;
    CREATE INDEX members_by_user ON members(username);
    CREATE TABLE membership_log (
        folder_id TEXT NOT NULL,
        seq INTEGER NOT NULL,
        change_id TEXT NOT NULL UNIQUE,
        change_json TEXT NOT NULL,
        applied_at REAL NOT NULL,
        PRIMARY KEY (folder_id, seq)
    );
    CREATE TABLE folder_keys (
        folder_id TEXT NOT NULL,
        epoch INTEGER NOT NULL,
        username TEXT NOT NULL,
        wrapped BLOB NOT NULL,
        PRIMARY KEY (folder_id, username, epoch)
    ) WITHOUT ROWID;
    CREATE TABLE invitations (
        id TEXT PRIMARY KEY,
        folder_id TEXT NOT NULL,
        invitee TEXT NOT NULL,
        inviter TEXT NOT NULL,
        role TEXT NOT NULL,
        change_json TEXT NOT NULL,
        key_epoch INTEGER NOT NULL,
        wrapped_key BLOB NOT NULL,
        created_at REAL NOT NULL,
        expires_at REAL NOT NULL,
        state TEXT NOT NULL
    );
    CREATE INDEX invitations_by_invitee ON invitations(invitee, state);
    CREATE INDEX invitations_by_folder ON invitations(folder_id, state);
    CREATE TABLE entries (
        folder_id TEXT NOT NULL,
        rseq INTEGER NOT NULL,
        device_id TEXT NOT NULL,
        seq INTEGER NOT NULL,
        hash TEXT NOT NULL,
        wire TEXT NOT NULL,
        received_at REAL NOT NULL,
        PRIMARY KEY (folder_id, rseq),
        UNIQUE (folder_id, device_id, seq)
    );
    CREATE TABLE heads (
        folder_id TEXT NOT NULL,
        device_id TEXT NOT NULL,
        seq INTEGER NOT NULL,
        hash TEXT NOT NULL,
        PRIMARY KEY (folder_id, device_id)
    ) WITHOUT ROWID;
    CREATE TABLE cursors (
        folder_id TEXT NOT NULL,
        device_id TEXT NOT NULL,
        rseq INTEGER NOT NULL,
        PRIMARY KEY (folder_id, device_id)
    ) WITHOUT ROWID;
    CREATE TABLE blocks (
        folder_id TEXT NOT NULL,
        block_id TEXT NOT NULL,
        size INTEGER NOT NULL,
        sha256 TEXT NOT NULL,
        charged_to TEXT NOT NULL,
        refcount INTEGER NOT NULL DEFAULT 0,
        touched_at REAL NOT NULL,
        PRIMARY KEY (folder_id, block_id)
    ) WITHOUT ROWID;
    CREATE INDEX blocks_unreferenced ON blocks(touched_at) WHERE refcount = 0;
    CREATE INDEX blocks_by_account ON blocks(charged_to);
    CREATE TABLE stats (
        name TEXT PRIMARY KEY,
        value INTEGER NOT NULL
    );
    INSERT INTO stats VALUES ('blocks', 0), ('block_bytes', 0);
    """,
    2: """
    CREATE TABLE link_offers (
        slot TEXT PRIMARY KEY,
        username TEXT NOT NULL,
        device_id TEXT NOT NULL,
        blob BLOB NOT NULL,
        created_at REAL NOT NULL,
        expires_at REAL NOT NULL
    );
    CREATE INDEX link_offers_by_expiry ON link_offers(expires_at);
    """,
    3: """
    CREATE TABLE device_certs (
        device_id TEXT PRIMARY KEY,
        username TEXT NOT NULL,
        cert_json TEXT NOT NULL,
        updated_at REAL NOT NULL
    );
    CREATE INDEX device_certs_by_user ON device_certs(username);
    """,
}
