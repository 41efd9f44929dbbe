FROM alpine
RUN --mount=type=cache,target=/root/.cache --mount=type=secret,id=tok --network=none --security=insecure pip install x
RUN --network=host --mount=type=tmpfs,target=/tmp,size=64m true
