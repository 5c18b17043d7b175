from tests.conftest import GQL

CREATE = """
mutation($input: CreateConversationInput!) {
  createConversation(input: $input) { id tenantId status tags metadata messageCount lastSeq version }
}
"""
ADD = """
mutation($cid: ID!, $input: AddMessageInput!) {
  addMessage(conversationId: $cid, input: $input) { id seq role content tokenCount conversation { id messageCount lastSeq } }
}
"""


async def test_create_add_and_read_nested(gql: GQL, tenant: str) -> None:
    conv = (await gql.ok(CREATE, {"input": {"tags": ["a", "b"], "metadata": {"x": 1}}}))[
        "createConversation"
    ]
    assert conv["tenantId"] == tenant
    assert conv["status"] == "ACTIVE"
    for i in range(3):
        msg = (
            await gql.ok(ADD, {"cid": conv["id"], "input": {"role": "USER", "content": f"hi {i}"}})
        )["addMessage"]
        assert msg["seq"] == i + 1
    data = await gql.ok(
        """{ conversations(first: 5) { totalCount nodes { id messageCount lastSeq
              messages(first: 2) { totalCount pageInfo { hasNextPage endCursor } nodes { seq content } }
              state { key } } } }"""
    )
    node = data["conversations"]["nodes"][0]
    assert node["messageCount"] == 3
    assert [m["seq"] for m in node["messages"]["nodes"]] == [1, 2]
    assert node["messages"]["pageInfo"]["hasNextPage"] is True
    assert data["conversations"]["totalCount"] == 1
