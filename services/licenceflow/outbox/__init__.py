"""The outbox's way to the broker, shared by the API and the workers (neither imports the
other): the Celery application and its configuration (`broker`), the relay that publishes
committed outbox rows as tasks (`relay`), and the loop that runs it inside a process, woken
after each commit (`loop`)."""
