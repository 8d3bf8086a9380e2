FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 DATABASE_URL=sqlite:////app/data/bot.db
WORKDIR /app
# a CJK font for the weekly review's chart (bot/charts.py; without it the labels fall back to English)
RUN apt-get update && apt-get install -y --no-install-recommends fonts-wqy-microhei \
    && rm -rf /var/lib/apt/lists/*
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt
COPY bot bot
COPY handlers handlers
COPY rules rules
COPY storage storage
RUN useradd --create-home --uid 10001 bot && mkdir -p /app/data && chown bot /app/data
USER bot
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=3s --retries=3 \
  CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2).status == 200 else 1)"
CMD ["sh", "-c", "python -m bot initdb && exec gunicorn -w 2 -b 0.0.0.0:8000 --access-logfile - 'bot:create_app()'"]
