FROM alpine
ENV U=app
COPY --chown=${U}:${G:-staff} --chmod=0640 a /b
