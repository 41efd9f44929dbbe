# escape=`
FROM mcr.microsoft.com/windows/servercore
ENV DIR=C:\Program` Files\app
WORKDIR C:\Windows
COPY testfile.txt c:\
RUN dir c:\ `
    /b
