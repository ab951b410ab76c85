-- The city's SQLite schema (WAL); city.uploads adds its own `uploads` table to this file.
CREATE TABLE IF NOT EXISTS gateways (
    gateway_id TEXT PRIMARY KEY,
    device_key TEXT NOT NULL UNIQUE,
    label TEXT NOT NULL,
    enrolled_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS enrollment_codes (
    code_hash TEXT PRIMARY KEY,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    used_at TEXT,
    gateway_id TEXT
);
CREATE TABLE IF NOT EXISTS cameras (
    id INTEGER PRIMARY KEY,
    registration_id TEXT NOT NULL UNIQUE,
    gateway_id TEXT NOT NULL REFERENCES gateways(gateway_id),
    camera_id TEXT NOT NULL,
    name TEXT NOT NULL,
    lat REAL NOT NULL,
    lon REAL NOT NULL,
    precision TEXT NOT NULL,
    status TEXT NOT NULL,
    registered_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    envelope TEXT NOT NULL,
    UNIQUE (gateway_id, camera_id)
);
CREATE VIRTUAL TABLE IF NOT EXISTS camera_index USING rtree(
    id, min_lat, max_lat, min_lon, max_lon
);
CREATE TABLE IF NOT EXISTS footage_requests (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    request_id TEXT NOT NULL UNIQUE,
    gateway_id TEXT NOT NULL REFERENCES gateways(gateway_id),
    case_number TEXT NOT NULL,
    legal_basis TEXT NOT NULL,
    incident_type TEXT NOT NULL,
    registration_ids TEXT NOT NULL,
    envelope TEXT NOT NULL,
    issued_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS footage_requests_feed ON footage_requests (gateway_id, seq);
CREATE TABLE IF NOT EXISTS decline_replies (
    request_id TEXT PRIMARY KEY REFERENCES footage_requests(request_id),
    gateway_id TEXT NOT NULL,
    registration_ids TEXT NOT NULL,
    reply TEXT NOT NULL,
    sent_at TEXT NOT NULL,
    received_at TEXT NOT NULL,
    envelope TEXT NOT NULL
);
