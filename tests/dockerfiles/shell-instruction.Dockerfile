FROM alpine
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
RUN echo $0 | cat
CMD echo cmd
ENTRYPOINT ["/exec/form/untouched"]
