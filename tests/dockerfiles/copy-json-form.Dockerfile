FROM alpine
ENV D=/dest
COPY ["a b", "$D/c d/"]
COPY [ "x" , "y" ]
