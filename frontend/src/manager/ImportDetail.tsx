export default function ImportDetail() {
  return <h1>ImportDetail</h1>;
}
