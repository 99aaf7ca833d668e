from django import forms

from . import services
from .models import EventType


class EndpointForm(forms.Form):
    url = forms.CharField(
        label="Endpoint URL",
        max_length=2000,
        help_text="Where we POST each event, e.g. https://example.com/webhooks/afficone.",
        widget=forms.URLInput(attrs={"placeholder": "https://"}),
    )
    events = forms.MultipleChoiceField(
        label="Events to send",
        choices=EventType.choices,
        widget=forms.CheckboxSelectMultiple,
        error_messages={"required": "Choose at least one event type."},
    )

    def clean_url(self) -> str:
        try:
            return services.clean_url(self.cleaned_data["url"])
        except services.WebhookError as error:
            raise forms.ValidationError(str(error)) from None
