# syntax=docker/dockerfile:1
# planner-jobs: one job per container run (`docker run IMAGE overdue`, a Kubernetes CronJob's args).
ARG NODE_VERSION=24

# Build: all dependencies, compile TypeScript, then drop the dev and optional dependencies. The only
# optional ones are the embedded PostgreSQL (embedded-postgres and its ~60 MB of binaries: a local
# default, never production's database; without it a run needs DATABASE_URL, else exit 78) and pg's
# Cloudflare Workers socket.
FROM node:${NODE_VERSION}-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts: the package's own `prepare` (a build) needs the sources, copied below.
RUN npm ci --no-audit --no-fund --ignore-scripts
COPY tsconfig.json tsconfig.build.json ./
COPY bin ./bin
COPY src ./src
COPY migrations ./migrations
RUN npx tsc -p tsconfig.build.json \
 && npm prune --omit=dev --omit=optional --no-audit --no-fund

# Runtime: production dependencies and the compiled code only, as the unprivileged `node` user.
FROM node:${NODE_VERSION}-bookworm-slim AS runtime
ENV NODE_ENV=production \
    PLANNER_DATA_DIR=/tmp/planner-jobs
WORKDIR /app
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY --from=build --chmod=0755 /app/bin ./bin
RUN ln -s /app/bin/planner-jobs.js /usr/local/bin/planner-jobs
USER 1000:1000
ENTRYPOINT ["planner-jobs"]
CMD ["--help"]
