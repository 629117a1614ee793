"""Progress lines of long loops (training, evaluation, grid searches)."""


def format_eta(seconds: float) -> str:
  """Seconds as H:MM:SS for progress logs (hours not wrapped at 24)."""
  seconds = int(max(seconds, 0))
  h, rem = divmod(seconds, 3600)
  m, s = divmod(rem, 60)
  return f"{h:d}:{m:02d}:{s:02d}"
