FROM alpine
ONBUILD RUN echo "triggered $HOME"
ONBUILD COPY --chown=app . /app/src
onbuild add x /y
