export { native } from "./native";
