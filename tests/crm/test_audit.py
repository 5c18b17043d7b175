"""A sync request is a write: one `crm.sync` entry; the runner's own bookkeeping adds none."""

from conversation_service.bootstrap import Container
from tests.conftest import GQL
from tests.crm.conftest import CrmTenant, StartRunner, wait_until
from tests.crm.test_sync import SYNC, conversation_with_messages, status_is
from tests.helpers import audit_rows


async def test_a_sync_request_leaves_one_entry(
    gql: GQL, crm_tenant: CrmTenant, runner: StartRunner, container: Container, tenant: str
) -> None:
    cid = await conversation_with_messages(gql, 1)
    before = len(await audit_rows(container.db, tenant))
    assert (await gql.ok(SYNC, {"id": cid}))["syncConversationToCrm"]["status"] == "PENDING"
    await runner()
    await wait_until(status_is(gql, cid, "SYNCED"))
    entries = (await audit_rows(container.db, tenant))[before:]
    assert [(e.action, e.target_id) for e in entries] == [("crm.sync", cid)]
