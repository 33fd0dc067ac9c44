# durabatch worker and CLI image: the sources, production dependencies and the CLI's esbuild bundle
# (built here, as root: the image's user cannot write node_modules/.cache). Workers bundle the
# workflow code on first start and cache it under DURABATCH_HOME (on the shared volume, so the
# replicas build it once).
FROM node:20.19-bookworm-slim

ENV NODE_ENV=production \
    DURABATCH_HOME=/data/.durabatch \
    NPM_CONFIG_UPDATE_NOTIFIER=false

WORKDIR /app

# Dependencies first, so a source change does not reinstall them: exactly the locked tree. Scripts
# are skipped (nothing installed needs one); the CLI bundle is built below, once the sources are in.
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund \
    && npm cache clean --force

COPY bin ./bin
COPY src ./src
COPY workflows ./workflows
COPY activities ./activities
COPY tsconfig.json ./
RUN node bin/cli-build.js \
    && ln -s /app/bin/durabatch.js /usr/local/bin/durabatch \
    && mkdir -p /data \
    && chown 1000:1000 /data

# The image's `node` user.
USER 1000:1000
# The shared volume: staged sources and the workflow bundle (DURABATCH_HOME) and every batch's
# output/ live here, at the same path on every worker and on the CLI.
WORKDIR /data
VOLUME ["/data"]

# Prometheus metrics of the SDK runtime when DURABATCH_METRICS_ADDRESS is set (e.g. 0.0.0.0:9464).
EXPOSE 9464

ENTRYPOINT ["durabatch"]
CMD ["worker"]
