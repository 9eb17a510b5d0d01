"""Order events are the audit trail: the database itself refuses to change or delete them."""

from django.db import migrations

FORBID = """
CREATE OR REPLACE FUNCTION execution_orderevent_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'execution_orderevent is append-only (% refused)', TG_OP;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER execution_orderevent_no_update_delete
BEFORE UPDATE OR DELETE ON execution_orderevent
FOR EACH ROW EXECUTE FUNCTION execution_orderevent_append_only();
"""

ALLOW = """
DROP TRIGGER IF EXISTS execution_orderevent_no_update_delete ON execution_orderevent;
DROP FUNCTION IF EXISTS execution_orderevent_append_only();
"""


class Migration(migrations.Migration):
    dependencies = [("execution", "0001_initial")]
    operations = [migrations.RunSQL(FORBID, ALLOW)]
