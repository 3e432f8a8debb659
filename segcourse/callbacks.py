"""Keras callbacks that show training as it happens (imports Keras, unlike `plots`)."""

from __future__ import annotations

import keras
import matplotlib.pyplot as plt

from segcourse import plots


class ShowPrediction(keras.callbacks.Callback):
    """Every `every` epochs (0: never), show the prediction for one fixed validation image."""

    def __init__(self, image, mask, every: int, name: str):
        super().__init__()
        self.image, self.mask, self.every, self.name = image, mask, int(every), name

    def on_epoch_end(self, epoch, logs=None):
        if self.every <= 0 or (epoch + 1) % self.every:
            return
        logits = self.model.predict(self.image[None], verbose=0)
        plots.show_predictions(
            self.image[None],
            self.mask[None],
            logits > 0,
            titles=[f"epoch {epoch + 1}"],
            title=f"{self.name} during training: the same validation image every "
            f"{self.every} epochs",
        )
        plt.show()
