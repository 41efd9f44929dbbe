FROM alpine
ARG SUM=sha256:24454f830cdb571e2c4ad15481119c43b3cafd48dd869a9b2945d1036d1dc68d
ADD --checksum=$SUM --chown=1:2 --chmod=0644 --link https://mirror.example/x.tar.gz /x/
ADD --keep-git-dir=true --exclude=*.bak git@git.example:repo.git /src
ADD ["a b.tar", "/dest dir/"]
