FROM busybox
ENV abc=hello
ENV abc=bye def=$abc
ENV ghi=$abc
