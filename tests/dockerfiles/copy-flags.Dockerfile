FROM alpine
ARG OWNER=app
COPY --chown=$OWNER:$OWNER --chmod=755 --link --parents --exclude=*.md --exclude=docs/ src/ ./lib/ /app/
COPY --link=false --chmod=$MODE a /b
