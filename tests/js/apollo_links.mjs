// Real Apollo Client links against a running server. Usage: node apollo_links.mjs URL TENANT
// Prints one JSON object: what each scenario answered and the HTTP requests it sent.
import { createHash } from "node:crypto";
import { ApolloClient, InMemoryCache, HttpLink, gql } from "@apollo/client";
import { PersistedQueryLink } from "@apollo/client/link/persisted-queries";
import { BatchHttpLink } from "@apollo/client/link/batch-http";

const [url, tenant] = process.argv.slice(2);
const sha256 = (text) => createHash("sha256").update(text).digest("hex");

function recordingFetch(log) {
  return async (input, init = {}) => {
    const body = typeof init.body === "string" ? JSON.parse(init.body) : null;
    const response = await fetch(input, init);
    const text = response.status >= 400 ? await response.clone().text() : null;
    log.push({ method: init.method || "GET", url: String(input), body, status: response.status, text });
    return response;
  };
}

function client(link) {
  return new ApolloClient({ link, cache: new InMemoryCache() });
}

async function persisted(useGET) {
  const requests = [];
  const marker = `Q${Math.random().toString(36).slice(2)}`;
  const query = gql(`query ${marker} { conversations(first: 1) { totalCount } }`);
  const answers = [];
  // Two clients: the second has an empty cache, like another browser tab or instance.
  for (let i = 0; i < 2; i++) {
    const link = new PersistedQueryLink({ sha256, useGETForHashedQueries: useGET }).concat(
      new HttpLink({ uri: url, headers: { "X-Tenant-ID": tenant }, fetch: recordingFetch(requests) }),
    );
    const result = await client(link).query({ query, fetchPolicy: "network-only" });
    answers.push(result.data);
  }
  return { answers, requests };
}

async function batched() {
  const requests = [];
  const link = new BatchHttpLink({
    uri: url,
    headers: { "X-Tenant-ID": tenant },
    batchMax: 20,
    batchInterval: 20,
    fetch: recordingFetch(requests),
  });
  const c = client(link);
  const count = gql`query Count { conversations(first: 1) { totalCount } }`;
  const create = gql`mutation Create { createConversation(input: {}) { id } }`;
  const created = await Promise.all([c.mutate({ mutation: create }), c.mutate({ mutation: create })]);
  const three = await Promise.all(
    [1, 2, 3].map((n) =>
      c.query({
        query: gql`query Page${n}($n: Int) { conversations(first: $n) { totalCount } }`,
        variables: { n },
        fetchPolicy: "network-only",
      }),
    ),
  );
  let tooMany = null;
  try {
    await Promise.all(
      Array.from({ length: 11 }, (_, n) =>
        c.query({ query: gql`query Many${n} { conversations(first: 1) { totalCount } }`, fetchPolicy: "network-only" }),
      ),
    );
  } catch (error) {
    tooMany = { name: error.name, message: error.message, body: error.bodyText ?? null };
  }
  return {
    created: created.map((r) => r.data.createConversation.id),
    three: three.map((r) => r.data),
    tooMany,
    requests,
    count: (await c.query({ query: count, fetchPolicy: "network-only" })).data,
  };
}

const out = {
  persistedPost: await persisted(false),
  persistedGet: await persisted(true),
  batched: await batched(),
};
console.log(JSON.stringify(out));
