"""Settings, read from environment variables (for example DATABASE_URL)."""

from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore")

    app_name: str = "Library Lending API"
    database_url: str = "sqlite:///./library.db"

    # Lending rules.
    loan_period_days: int = 14
    max_active_loans: int = 3

    # Catalogue listing.
    default_page_size: int = 20
    max_page_size: int = 100


settings = Settings()
