FROM alpine
RUN ["echo", "hello world", "\u00e9\t\"q\""]
