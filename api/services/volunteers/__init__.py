"""Volunteers (志愿服务): teams and profiles (`teams`), shifts with sign-up and check-in/out
(`shifts`), and service records with review, corrections, certificates and exports (`records`)."""
