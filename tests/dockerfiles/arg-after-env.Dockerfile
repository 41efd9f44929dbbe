FROM ubuntu
ENV X=from-env
ARG X
LABEL no-value=$X
ARG X=from-arg
LABEL with-value=$X
