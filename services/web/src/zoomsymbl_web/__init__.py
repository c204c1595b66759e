"""The web service: the meeting page behind the signed link of the e-mail (``GET /m/{token}``)."""
