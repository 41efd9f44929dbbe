FROM alpine
ARG V=1.0
LABEL "com.example.vendor"="ACME Incorporated"
LABEL com.example.label-with-value="foo" version=$V
LABEL description="This text illustrates \
that label-values can span multiple lines."
LABEL legacy value with spaces
