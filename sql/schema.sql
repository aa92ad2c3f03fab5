--
-- schema: the tables, indexes and functions of README "Tables" and "API", and the
-- helpers the later regression files use.  Runs first.
--

-- Columns of every table, in order, with their types and defaults.
SELECT table_name, column_name, data_type, is_nullable, column_default
FROM information_schema.columns
WHERE table_name IN ('verist_state', 'verist_events', 'verist_outbox', 'verist_blocks')
ORDER BY table_name, ordinal_position;

-- Constraint and index names are part of the contract.
SELECT conrelid::regclass AS table_name, conname, pg_get_constraintdef(oid) AS definition
FROM pg_constraint
WHERE conrelid::regclass::text LIKE 'verist_%'
ORDER BY 1, 2;

SELECT tablename, indexname, indexdef
FROM pg_indexes
WHERE tablename LIKE 'verist_%'
ORDER BY tablename, indexname;

-- pg_dump keeps the data of every table and the position of every sequence.
SELECT unnest(extconfig)::regclass AS dumped
FROM pg_extension WHERE extname = 'verist';

-- Every function: volatility, strictness (never STRICT), security, privileges.
SELECT p.oid::regprocedure AS function, p.provolatile AS volatility,
       p.proisstrict AS strict, p.prosecdef AS security_definer,
       p.proparallel AS parallel,
       has_function_privilege('public', p.oid, 'EXECUTE') AS public_execute,
       obj_description(p.oid, 'pg_proc') IS NOT NULL AS has_comment
FROM pg_proc p
JOIN pg_depend d ON d.objid = p.oid AND d.classid = 'pg_proc'::regclass
JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'verist'
ORDER BY p.proname;

-- No privileges on the tables for PUBLIC: writes go through the functions.
SELECT c.relname, has_table_privilege('public', c.oid, 'SELECT') AS sel,
       has_table_privilege('public', c.oid, 'INSERT,UPDATE,DELETE') AS write
FROM pg_class c WHERE c.relname IN
    ('verist_state', 'verist_events', 'verist_outbox', 'verist_blocks')
ORDER BY 1;
