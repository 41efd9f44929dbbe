FROM alpine
CMD echo "shell form" $HOME
CMD ["exec", "form"]
CMD []
ENTRYPOINT ["/bin/app", "--flag"]
ENTRYPOINT exec /bin/app
ENTRYPOINT
