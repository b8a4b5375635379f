// A sensor's Overview: its Learning Mode and engine switches.
import { initSensorControls } from "./sensor-switches.js";

initSensorControls();
