FROM alpine
ARG SET=value UNSET EMPTY=
ENV PATHV=/usr/local/lib/file.tar.gz
LABEL a=${SET:-w} b=${UNSET:-w} c=${EMPTY:-w} d=${EMPTY-w} \
      e=${SET:+w} f=${UNSET:+w} g=${EMPTY+w} h=${EMPTY:+w}
LABEL p1=${PATHV#*/} p2=${PATHV##*/} s1=${PATHV%.*} s2=${PATHV%%.*} r=${PATHV/lib/LIB}
LABEL n=${UNSET:-${SET:-x}} esc=\$SET sq='$SET' dq="$SET" br=${SET}suffix
WORKDIR /${SET}/$SET
