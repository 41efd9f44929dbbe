FROM golang AS tools
RUN go install example.com/tool@latest
FROM alpine AS unused
RUN true
FROM alpine
RUN --mount=type=bind,from=tools,source=/go/bin,target=/tools /tools/tool
