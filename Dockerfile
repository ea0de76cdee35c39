# regcache in one image: the daemon, nginx (with njs) and distribution's registry binary (Debian's
# docker-registry, the code inside registry:2). With `runtime: process` (the default config below)
# every cache is a child process, so one container is the whole cache:
#
#   docker build -t regcache .
#   docker run -d -p 5000:5000 -v ./registries.yaml:/etc/regcache/registries.yaml:ro \
#     -v regcache-data:/var/lib/regcache regcache
#
# The same image drives sibling registry:2 containers instead with `runtime: docker` and the Docker
# socket mounted (compose/docker-runtime.yml).
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json tsconfig.json ./
# --ignore-scripts: `prepare` compiles, and src/ is not copied yet.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY src ./src
RUN npm run build && npm prune --omit=dev --ignore-scripts --no-audit --no-fund

# Only the node binary: npm, corepack and yarn stay behind (about 30 MB).
FROM node:20-bookworm-slim AS node

FROM debian:bookworm-slim
# tini is PID 1: it forwards SIGTERM/SIGHUP to the daemon and reaps what its children leave behind.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates nginx libnginx-mod-http-js docker-registry tini \
 && apt-get clean && rm -rf /var/lib/apt/lists/* /var/log/apt /var/log/dpkg.log /etc/nginx/sites-enabled/default \
 && groupadd --system --gid 10001 regcache \
 && useradd --system --uid 10001 --gid regcache --home-dir /var/lib/regcache --shell /usr/sbin/nologin regcache \
 && install -d -o regcache -g regcache -m 0750 /var/lib/regcache \
 && install -d -m 0755 /etc/regcache
COPY --from=node /usr/local/bin/node /usr/local/bin/node
WORKDIR /app
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY templates ./templates
COPY nginx ./nginx
RUN ln -s /app/dist/cli/main.js /usr/local/bin/regcache
COPY compose/config/registries.yaml /etc/regcache/registries.yaml

ENV NODE_ENV=production \
    REGCACHE_CONFIG=/etc/regcache/registries.yaml \
    REGCACHE_ADMIN_URL=http://127.0.0.1:8080
# A named volume mounted here starts out owned by the regcache user (Docker copies the directory's owner).
VOLUME ["/var/lib/regcache"]
EXPOSE 5000 8080
# Runs as root instead only for `runtime: docker` with a root-owned Docker socket (compose/docker-runtime.yml).
USER regcache
# /readyz: nginx serves the config generation the daemon applied last. REGCACHE_ADMIN_URL must name the
# admin API when the config moves it off 127.0.0.1:8080.
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
  CMD ["node", "-e", "fetch(process.env.REGCACHE_ADMIN_URL + '/readyz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["tini", "--", "regcache"]
CMD ["run"]
