/* sql/verist--0.3.0--0.3.1.sql */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION verist UPDATE TO '0.3.1'" to load this file. \quit

--
-- 0.3.1: fixes found by attacking 0.3.0 (README "Versions and upgrades").
-- Almost all of them live in the shared library; the one catalog change is
-- verist_purge_outbox_all, which named the schema it was installed in and
-- broke when the schema was renamed.  It becomes a C procedure that finds
-- verist_purge_outbox in the extension's schema at run time; its signature,
-- privileges and behaviour are unchanged.
--
CREATE OR REPLACE PROCEDURE verist_purge_outbox_all(
    older_than interval, batch_rows integer DEFAULT 10000, INOUT purged bigint DEFAULT 0)
AS 'MODULE_PATHNAME', 'verist_purge_outbox_all'
LANGUAGE C;
