-- psql as a reference: every object of the extension has a COMMENT
-- (\dx+ pseudo_ext lists them; \df+, \dT+, \do+, \dv+ show the comments).
SELECT pg_describe_object(d.classid, d.objid, 0) AS object_without_comment
  FROM pg_depend d
 WHERE d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e'
   AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'pseudo_ext')
   AND NOT EXISTS (SELECT FROM pg_description x
                   WHERE x.classoid = d.classid AND x.objoid = d.objid AND x.objsubid = 0)
   -- PostgreSQL 18 also lists a table's or view's row type and a type's array
   -- type as members: they are described by their table, view or element type
   AND NOT EXISTS (SELECT FROM pg_type t
                   WHERE d.classid = 'pg_type'::regclass AND t.oid = d.objid
                     AND (EXISTS (SELECT FROM pg_class r WHERE r.oid = t.typrelid AND r.relkind <> 'c')
                          OR EXISTS (SELECT FROM pg_type e WHERE e.typarray = t.oid)))
 ORDER BY 1;
-- and so do the extension and its schemas
SELECT obj_description(oid, 'pg_extension') IS NOT NULL AS extension_commented FROM pg_extension WHERE extname = 'pseudo_ext';
SELECT nspname, obj_description(oid, 'pg_namespace') IS NOT NULL AS commented
  FROM pg_namespace WHERE nspname IN ('pseudo_keys', 'pseudo_fhe') ORDER BY 1;
