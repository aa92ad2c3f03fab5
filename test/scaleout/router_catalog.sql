-- The catalog of the verist_proxy extension in this database, one line per
-- fact, sorted: what an upgraded router must have exactly as a fresh
-- install has it (the scaleout suite diffs two databases' output).  Object
-- identities, not OIDs; the configuration tables' rows are left out.
WITH ext AS (SELECT oid, extversion, extconfig, extnamespace FROM pg_extension WHERE extname = 'verist_proxy'),
members AS (
    SELECT d.classid, d.objid FROM pg_depend d, ext
    WHERE d.refclassid = 'pg_extension'::regclass AND d.refobjid = ext.oid AND d.deptype = 'e'),
facts(line) AS (
    SELECT 'extension version ' || extversion || ' schema ' || extnamespace::regnamespace
           || ' config ' || (SELECT string_agg(c::regclass::text, ',' ORDER BY c::regclass::text)
                             FROM unnest(extconfig) c)
    FROM ext
  UNION ALL
    SELECT 'member ' || pg_describe_object(classid, objid, 0) FROM members
  UNION ALL
    SELECT format('routine %s(%s) -> %s | kind %s lang %s volatile %s strict %s secdef %s leakproof %s parallel %s cost %s rows %s config %s acl %s | comment %s | body %s',
                  p.proname, pg_get_function_arguments(p.oid), coalesce(pg_get_function_result(p.oid), 'procedure'),
                  p.prokind, l.lanname, p.provolatile, p.proisstrict, p.prosecdef, p.proleakproof, p.proparallel,
                  p.procost, p.prorows, p.proconfig, p.proacl, obj_description(p.oid, 'pg_proc'), p.prosrc)
    FROM members m JOIN pg_proc p ON m.classid = 'pg_proc'::regclass AND p.oid = m.objid
    JOIN pg_language l ON l.oid = p.prolang
  UNION ALL
    SELECT format('relation %s kind %s acl %s options %s | comment %s | view %s',
                  c.relname, c.relkind, c.relacl, c.reloptions, obj_description(c.oid, 'pg_class'),
                  CASE WHEN c.relkind = 'v' THEN pg_get_viewdef(c.oid) END)
    FROM members m JOIN pg_class c ON m.classid = 'pg_class'::regclass AND c.oid = m.objid
  UNION ALL
    SELECT format('type %s kind %s | comment %s', t.typname, t.typtype, obj_description(t.oid, 'pg_type'))
    FROM members m JOIN pg_type t ON m.classid = 'pg_type'::regclass AND t.oid = m.objid
  UNION ALL
    -- the columns of member tables and views, and of the composite types
    SELECT format('column %s %s %s %s not null %s default %s acl %s | comment %s',
                  c.relname, a.attnum, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
                  pg_get_expr(ad.adbin, ad.adrelid), a.attacl, col_description(c.oid, a.attnum))
    FROM pg_class c
    JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
    LEFT JOIN pg_attrdef ad ON ad.adrelid = c.oid AND ad.adnum = a.attnum
    WHERE c.oid IN (SELECT objid FROM members WHERE classid = 'pg_class'::regclass)
       OR c.oid IN (SELECT t.typrelid FROM members m JOIN pg_type t
                    ON m.classid = 'pg_type'::regclass AND t.oid = m.objid)
  UNION ALL
    SELECT format('constraint %s on %s: %s', co.conname, co.conrelid::regclass, pg_get_constraintdef(co.oid))
    FROM pg_constraint co
    WHERE co.conrelid IN (SELECT objid FROM members WHERE classid = 'pg_class'::regclass)
  UNION ALL
    SELECT format('index %s: %s', i.indexrelid::regclass, pg_get_indexdef(i.indexrelid))
    FROM pg_index i
    WHERE i.indrelid IN (SELECT objid FROM members WHERE classid = 'pg_class'::regclass)
)
SELECT line FROM facts ORDER BY line COLLATE "C";
