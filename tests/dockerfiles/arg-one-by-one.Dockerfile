ARG G1=a G2=${G1}b
FROM alpine:$G2
ARG L1=x L2=${L1}y
LABEL l2=$L2
