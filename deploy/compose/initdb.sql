-- One database and one owner per service, as CloudNativePG's `bootstrap.initdb` does in the cluster.
-- Laptop-only placeholder passwords (compose.yaml); real clusters get generated ones.
CREATE ROLE contacts LOGIN PASSWORD 'local-only-placeholder';
CREATE DATABASE contacts OWNER contacts;
CREATE ROLE consent LOGIN PASSWORD 'local-only-placeholder';
CREATE DATABASE consent OWNER consent;
CREATE ROLE campaign_gate LOGIN PASSWORD 'local-only-placeholder';
CREATE DATABASE campaign_gate OWNER campaign_gate;
CREATE ROLE audit_log LOGIN PASSWORD 'local-only-placeholder';
CREATE DATABASE audit_log OWNER audit_log;
-- The audit-log service connects as a member of the role its migration grants INSERT/SELECT to; audit_log
-- (the owner of the tables and their append-only triggers) only runs the migrations.
CREATE ROLE vigie_audit_log_app NOLOGIN;
CREATE ROLE audit_log_service LOGIN PASSWORD 'local-only-placeholder' IN ROLE vigie_audit_log_app;
