from tests.conftest import GQL, error_codes

CREATE = (
    """mutation($input: CreateConversationInput!) { createConversation(input: $input) { id } }"""
)
ADD = """mutation($cid: ID!, $input: AddMessageInput!) {
  addMessage(conversationId: $cid, input: $input) {
    id seq tokenCount toolCalls toolCallId
    sources { documentId title url snippet score metadata }
    execution { mode iterations executionTimeMs promptTokens completionTokens totalTokens }
  } }"""
CONTEXT = """query($cid: ID!, $maxTokens: Int, $maxMessages: Int, $model: String, $sys: Boolean) {
  conversationContext(conversationId: $cid, maxTokens: $maxTokens, maxMessages: $maxMessages,
                      model: $model, includeSystem: $sys) {
    conversationId totalTokens truncated omittedMessages oversizedMessageIds
    messages { seq role content tokenCount toolCalls toolCallId }
  } }"""


async def _conversation(gql: GQL, **input) -> str:
    return (await gql.ok(CREATE, {"input": input}))["createConversation"]["id"]


async def _add(gql: GQL, cid: str, **input) -> dict:
    return (await gql.ok(ADD, {"cid": cid, "input": input}))["addMessage"]


async def test_conversation_context_over_graphql(gql: GQL) -> None:
    cid = await _conversation(gql, agentId="agent-1")
    await _add(gql, cid, role="SYSTEM", content="You are helpful.")
    first = await _add(gql, cid, role="USER", content="hello world")
    assert first["tokenCount"] == 2
    call = [{"id": "c1", "name": "weather", "arguments": '{"city": "Lima"}'}]
    await _add(gql, cid, role="ASSISTANT", content="checking", toolCalls=call, tokenCount=4)
    await _add(gql, cid, role="TOOL", content="22C sunny", toolCallId="c1", tokenCount=4)
    await _add(gql, cid, role="ASSISTANT", content="It is 22C.", tokenCount=5)
    data = await gql.ok(CONTEXT, {"cid": cid, "maxTokens": 100, "maxMessages": 10})
    ctx = data["conversationContext"]
    assert [m["seq"] for m in ctx["messages"]] == [1, 2, 3, 4, 5]
    assert ctx["messages"][2]["toolCalls"] == call
    assert ctx["messages"][3]["toolCallId"] == "c1"
    sys_tokens = ctx["messages"][0]["tokenCount"]
    assert ctx["totalTokens"] == sys_tokens + 2 + 4 + 4 + 5
    assert ctx["truncated"] is False
    assert ctx["oversizedMessageIds"] == []
    # 9 tokens left after the system prompt and the last answer: the tool pair (8) does not fit
    # with the last answer (5), so it goes out whole, and so does everything older.
    tight = await gql.ok(CONTEXT, {"cid": cid, "maxTokens": sys_tokens + 12, "maxMessages": 10})
    ctx = tight["conversationContext"]
    assert [m["seq"] for m in ctx["messages"]] == [1, 5]
    assert ctx["truncated"] is True
    assert ctx["omittedMessages"] == 3
    no_sys = await gql.ok(CONTEXT, {"cid": cid, "maxMessages": 1, "sys": False})
    assert [m["seq"] for m in no_sys["conversationContext"]["messages"]] == [5]
    with_model = await gql.ok(CONTEXT, {"cid": cid, "model": "gpt-4o"})
    assert len(with_model["conversationContext"]["messages"]) == 5  # free tier: 4 + system


async def test_context_errors(gql: GQL) -> None:
    cid = await _conversation(gql)
    body = await gql(CONTEXT, {"cid": cid, "maxTokens": -5})
    assert error_codes(body) == ["BAD_USER_INPUT"]
    assert body["errors"][0]["extensions"]["field"] == "maxTokens"
    other = await gql.as_tenant("t-someone-else")(CONTEXT, {"cid": cid})
    assert error_codes(other) == ["NOT_FOUND"]


async def test_sources_usage_and_search_over_graphql(gql: GQL) -> None:
    cid = await _conversation(gql, agentId="rag-agent", metadata={"channel": "web", "vip": True})
    await _add(gql, cid, role="USER", content="¿Cuál es la política de devoluciones?")
    answer = await _add(
        gql,
        cid,
        role="ASSISTANT",
        content="La política de devoluciones permite 30 días.",
        tokenCount=9,
        sources=[
            {
                "documentId": "kb-7",
                "title": "Devoluciones",
                "url": "https://kb/7",
                "snippet": "30 días",
                "score": 0.87,
                "metadata": {"page": 2},
            }
        ],
        execution={
            "mode": "simple",
            "iterations": 1,
            "executionTimeMs": 420,
            "promptTokens": 300,
            "completionTokens": 40,
        },
    )
    assert answer["sources"][0] == {
        "documentId": "kb-7",
        "title": "Devoluciones",
        "url": "https://kb/7",
        "snippet": "30 días",
        "score": 0.87,
        "metadata": {"page": 2},
    }
    assert answer["execution"]["totalTokens"] == 340
    by_source = await gql.ok(
        """query { messagesBySource(documentId: "kb-7", first: 10) {
             totalCount pageInfo { hasNextPage endCursor }
             edges { cursor node { id sources { documentId } conversation { id } } } } }"""
    )
    conn = by_source["messagesBySource"]
    assert conn["totalCount"] == 1
    assert conn["edges"][0]["node"]["id"] == answer["id"]
    assert conn["edges"][0]["node"]["conversation"]["id"] == cid
    assert conn["pageInfo"]["endCursor"] == conn["edges"][0]["cursor"]
    usage = await gql.ok(
        """query { agentUsage(agentId: "rag-agent") {
             agentId conversations messages promptTokens completionTokens totalTokens
             contentTokens conversationTokens } }"""
    )
    u = usage["agentUsage"]
    assert (u["conversations"], u["messages"], u["promptTokens"], u["completionTokens"]) == (
        1,
        2,
        300,
        40,
    )
    conv = await gql.ok("query($id: ID!) { conversation(id: $id) { totalTokens } }", {"id": cid})
    assert u["conversationTokens"] == conv["conversation"]["totalTokens"]
    assert u["totalTokens"] == u["promptTokens"] + u["completionTokens"] == 340
    assert u["contentTokens"] > 0
    found = await gql.ok(
        """query { searchMessages(query: "devoluciones", first: 5) {
             totalCount pageInfo { hasNextPage }
             edges { cursor rank snippet node { id role } } } }"""
    )
    edges = found["searchMessages"]["edges"]
    assert found["searchMessages"]["totalCount"] == 2
    assert len(edges) == 2
    assert all("<b>devoluciones</b>" in e["snippet"] for e in edges)
    assert edges[0]["rank"] >= edges[1]["rank"]
    hidden = await gql.as_tenant("t-someone-else").ok(
        'query { searchMessages(query: "devoluciones") { totalCount edges { cursor } } }'
    )
    assert hidden["searchMessages"] == {"totalCount": 0, "edges": []}
    filtered = await gql.ok(
        'query { conversations(filter: {metadata: {channel: "web"}}) { totalCount nodes { id } } }'
    )
    assert [n["id"] for n in filtered["conversations"]["nodes"]] == [cid]
