// Reads {operations: [{query, variables, response}]} on stdin, runs each operation through a
// real Apollo Client (InMemoryCache, default normalisation) whose link answers with the given
// server response, then reads every operation back from the cache only and prints the results.
// Used by tests/graphql/test_client_cache.py: what a browser app would show after both reads.
import { ApolloClient, ApolloLink, InMemoryCache, gql } from "@apollo/client";
import { Observable } from "rxjs";

const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const { operations } = JSON.parse(Buffer.concat(chunks).toString("utf8"));

let next = 0;
const link = new ApolloLink(() => new Observable((observer) => {
  observer.next(operations[next++].response);
  observer.complete();
}));
const client = new ApolloClient({ link, cache: new InMemoryCache() });

for (const op of operations) {
  await client.query({ query: gql(op.query), variables: op.variables, fetchPolicy: "network-only" });
}
const fromCache = operations.map((op) =>
  client.cache.readQuery({ query: gql(op.query), variables: op.variables }));
process.stdout.write(JSON.stringify({ fromCache, keys: Object.keys(client.cache.extract()) }));
