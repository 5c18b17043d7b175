#!/usr/bin/env bash
# Re-fetches the vendored browser assets from the npm registry at the pinned versions
# (see conversation_service/assets/vendor/README.md). Needs npm; changes only files under vendor/.
set -euo pipefail
cd "$(dirname "$0")/.."
V=conversation_service/assets/vendor
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fetch() {  # npm-spec -> folder with the unpacked package
  local dir="$T/$(echo "$1" | tr '@/' '__')"
  mkdir -p "$dir"
  (cd "$T" && npm pack --silent "$1" | tail -1 | xargs -I{} tar xzf {} -C "$dir")
  echo "$dir/package"
}
p=$(fetch react@18.2.0);      cp "$p/umd/react.production.min.js" "$V/graphiql/"; cp "$p/LICENSE" "$V/graphiql/LICENSE.react"
p=$(fetch react-dom@18.2.0);  cp "$p/umd/react-dom.production.min.js" "$V/graphiql/"; cp "$p/LICENSE" "$V/graphiql/LICENSE.react-dom"
p=$(fetch js-cookie@3.0.5);   cp "$p/dist/js.cookie.min.js" "$V/graphiql/"; cp "$p/LICENSE" "$V/graphiql/LICENSE.js-cookie"
p=$(fetch graphiql@3.8.3)
cp "$p/graphiql.min.css" "$V/graphiql/"; cp "$p/LICENSE" "$V/graphiql/LICENSE.graphiql"; cp "$p/LICENSE" "$V/graphiql/LICENSE.plugin-explorer"
sed '/sourceMappingURL/d' "$p/graphiql.min.js" > "$V/graphiql/graphiql.min.js"
p=$(fetch @graphiql/plugin-explorer@1.0.2)
cp "$p/dist/index.umd.js" "$V/graphiql/plugin-explorer.umd.js"; cp "$p/dist/style.css" "$V/graphiql/plugin-explorer.css"
p=$(fetch swagger-ui-dist@5.35.0)
cp "$p/swagger-ui-bundle.js" "$p/swagger-ui.css" "$p/favicon-32x32.png" "$p/swagger-ui-bundle.js.LICENSE.txt" "$V/swagger/"
cp "$p/LICENSE" "$V/swagger/LICENSE.swagger-ui"; cp "$p/NOTICE" "$V/swagger/NOTICE.swagger-ui"
echo "vendored assets refreshed under $V"
