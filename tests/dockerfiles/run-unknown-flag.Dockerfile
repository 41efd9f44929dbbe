FROM alpine
RUN --foo=bar true
